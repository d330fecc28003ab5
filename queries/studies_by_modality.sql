-- name: studies_by_modality
-- description: Studies in a date range having at least one series of a modality, with series and instance counts.
-- param: modality STRING The Modality to look for, e.g. 'CT'.
-- param: start_date DATE First StudyDate to include.
-- param: end_date DATE Last StudyDate to include (the range is inclusive).
-- note: SeriesCount and InstanceCount cover the whole study (every modality);
-- note: ModalitySeriesCount counts the series of the requested modality.
-- note: Counts are of distinct UIDs.
SELECT
  MIN(PatientID) AS PatientID,
  MIN(StudyDate) AS StudyDate,
  StudyInstanceUID,
  COUNT(DISTINCT SeriesInstanceUID) AS SeriesCount,
  COUNT(DISTINCT IF(Modality = @modality, SeriesInstanceUID, NULL)) AS ModalitySeriesCount,
  COUNT(DISTINCT SOPInstanceUID) AS InstanceCount
FROM dicom_metadata
WHERE StudyDate BETWEEN @start_date AND @end_date
GROUP BY StudyInstanceUID
HAVING COUNTIF(Modality = @modality) > 0
ORDER BY StudyDate, StudyInstanceUID
