-- name: current_state
-- description: The current state of a streamed table: the latest row per SOPInstanceUID, deleted instances removed.
-- note: Needs the Type and LastUpdated columns that streaming adds.
-- note: The Type values are undocumented; this query assumes a deletion is marked Type = 'DELETE'.
-- note: Rows written before deletion metadata existed have a NULL LastUpdated and
-- note: count as older than any dated row; among several such rows the pick is arbitrary.
SELECT * EXCEPT (row_rank)
FROM (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY SOPInstanceUID
      ORDER BY LastUpdated DESC NULLS LAST
    ) AS row_rank
  FROM dicom_metadata
)
WHERE row_rank = 1
  AND (Type IS NULL OR Type != 'DELETE')
ORDER BY StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID
