-- name: filter_file_paths
-- description: Filter-file lines, one /studies/.../series/.../instances/... path per instance of the given studies.
-- param: study_uids ARRAY<STRING> The StudyInstanceUIDs to list.
-- note: Rows without a SeriesInstanceUID or SOPInstanceUID are skipped;
-- note: each path appears once, in sorted order.
SELECT DISTINCT
  CONCAT(
    '/studies/', StudyInstanceUID,
    '/series/', SeriesInstanceUID,
    '/instances/', SOPInstanceUID
  ) AS path
FROM dicom_metadata
WHERE StudyInstanceUID IN UNNEST(@study_uids)
  AND SeriesInstanceUID IS NOT NULL
  AND SOPInstanceUID IS NOT NULL
ORDER BY path
