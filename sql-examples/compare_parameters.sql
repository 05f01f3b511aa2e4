-- Question: How do the parameters of two runs differ?
-- Parameters are the artifacts of the private _parameters step: artifacts(1) (the private = 1
-- argument) includes private names, of which only the step is wanted here, not _graph_info & co.
SELECT a.name AS parameter,
       a.value AS run_1795738050376863,
       b.value AS run_1795738056495569,
       CASE WHEN a.value IS b.value THEN '' ELSE 'differs' END AS diff
FROM artifacts(1) AS a
JOIN artifacts(1) AS b ON b.flow = a.flow AND b.step = a.step AND b.name = a.name AND b.run_id = '1795738056495569'
WHERE a.flow = 'TypesFlow' AND a.run_id = '1795738050376863' AND a.step = '_parameters'
  AND substr(a.name, 1, 1) <> '_'
ORDER BY a.name;
