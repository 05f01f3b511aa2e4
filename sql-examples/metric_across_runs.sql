-- Question: How did a metric (the `counter` and `ratio` artifacts of TypesFlow's end step) change from run to run?
-- Ordered by when the end step wrote them; value is the artifact decoded to JSON.
SELECT c.run_id,
       c.created_at AS written_at,
       c.value AS counter,
       r.value AS ratio
FROM artifacts AS c
JOIN artifacts AS r ON r.flow = c.flow AND r.run_id = c.run_id AND r.step = c.step AND r.name = 'ratio'
WHERE c.flow = 'TypesFlow' AND c.step = 'end' AND c.name = 'counter'
ORDER BY c.created_at;
