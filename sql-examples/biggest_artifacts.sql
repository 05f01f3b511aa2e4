-- Question: Which artifacts of a run take the most space, and what are they?
-- size is the serialized (pickled) size in bytes, as the client's artifact size reports it.
SELECT step,
       name,
       python_type,
       size
FROM artifacts
WHERE flow = 'TypesFlow' AND run_id = '1795738056495569' AND step = 'end'
ORDER BY size DESC, name
LIMIT 5;
