-- Question: How do the parameters of two runs differ?
-- Parameters are the artifacts of the hidden _parameters step, which a query names explicitly.
SELECT a.name AS parameter,
       a.value AS run_1795738050376863,
       b.value AS run_1795738056495569,
       CASE WHEN a.value IS b.value THEN '' ELSE 'differs' END AS diff
FROM artifacts AS a
JOIN artifacts AS b ON b.flow = a.flow AND b.step = a.step AND b.name = a.name AND b.run_id = '1795738056495569'
WHERE a.flow = 'TypesFlow' AND a.run_id = '1795738050376863' AND a.step = '_parameters'
ORDER BY a.name;
