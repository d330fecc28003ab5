-- name: latest_studies
-- description: The reading worklist: newest studies first, with instance counts.
-- param: limit INT64 How many studies to return.
-- note: StudyDateTime is CONCAT(StudyDate, ' ', StudyTime) as BigQuery prints it,
-- note: e.g. '1998-09-24 07:59:11'; a fractional StudyTime keeps 3 or 6 digits
-- note: ('07:59:11.500', '07:59:11.123456'), on BigQuery and on DuckDB alike.
-- note: A study whose instances all lack StudyDate or StudyTime has a NULL
-- note: StudyDateTime and sorts last. InstanceCount counts table rows.
SELECT
  MIN(CONCAT(StudyDate, ' ', StudyTime)) AS StudyDateTime,
  MIN(PatientID) AS PatientID,
  StudyInstanceUID,
  COUNT(*) AS InstanceCount
FROM dicom_metadata
GROUP BY StudyInstanceUID
ORDER BY StudyDateTime DESC, StudyInstanceUID
LIMIT @limit
