-- Question: Which tasks needed a retry, and why did their first attempt fail?
-- task_attempts has one row per attempt (Task(pathspec, attempt=N) in the client): attempt 0 of
-- each task whose current attempt is past 0, with that attempt's exception, and how the task ended.
SELECT t.flow,
       t.run_id,
       t.step,
       t.task_id,
       t.attempt AS last_attempt,
       t.successful AS finally_successful,
       json_extract(a.exception, '$.type') AS attempt_0_error,
       json_extract(a.exception, '$.message') AS attempt_0_message
FROM tasks AS t
JOIN task_attempts AS a ON a.flow = t.flow AND a.run_id = t.run_id AND a.step = t.step AND a.task_id = t.task_id
WHERE t.attempt > 0 AND a.attempt = 0
ORDER BY t.flow, t.run_id, t.step, t.task_id;
