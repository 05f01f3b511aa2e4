-- Question: Which runs failed, in which step, and with which exception?
SELECT r.flow,
       r.run_id,
       t.step,
       t.task_id,
       t.attempt,
       json_extract(t.exception, '$.type') AS exception_type,
       json_extract(t.exception, '$.message') AS message
FROM runs AS r
JOIN tasks AS t ON t.flow = r.flow AND t.run_id = r.run_id
WHERE r.status = 'failed' AND t.exception IS NOT NULL
ORDER BY r.flow, r.run_id, t.step;
