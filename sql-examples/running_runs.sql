-- Question: Which runs are still running (or were killed), and which of their steps never finished?
-- Locally a killed run cannot be told from a running one: both show status 'running'.
SELECT r.flow,
       r.run_id,
       r.created_at,
       r.user_tags,
       s.step AS unfinished_step
FROM runs AS r
LEFT JOIN steps AS s ON s.flow = r.flow AND s.run_id = r.run_id AND s.finished_at IS NULL
WHERE r.status = 'running'
ORDER BY r.created_at, s.step;
