-- name: series_per_patient
-- description: Per patient, the number of studies, series and instances.
-- note: Counts are of distinct UIDs; rows without a PatientID form one NULL group, listed first.
SELECT
  PatientID,
  COUNT(DISTINCT StudyInstanceUID) AS StudyCount,
  COUNT(DISTINCT SeriesInstanceUID) AS SeriesCount,
  COUNT(DISTINCT SOPInstanceUID) AS InstanceCount
FROM dicom_metadata
GROUP BY PatientID
ORDER BY PatientID
