-- name: patient_dicomweb_paths
-- description: A patient's instances as DICOMweb paths, with their UIDs (the vendor example).
-- param: patient_id STRING The PatientID to look up, e.g. '19045'.
-- note: The UID columns let a filter file be built straight from the result.
-- note: One row per table row; on a streamed table run it over current_state.
SELECT
  CONCAT(
    '/dicomWeb/studies/', StudyInstanceUID,
    '/series/', SeriesInstanceUID,
    '/instances/', SOPInstanceUID
  ) AS DICOMwebPath,
  StudyInstanceUID,
  SeriesInstanceUID,
  SOPInstanceUID
FROM dicom_metadata
WHERE PatientID = @patient_id
ORDER BY StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID
