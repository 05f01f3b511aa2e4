-- Question: Which tasks needed retries, and how did they end?
-- attempt is the attempt the client shows (0 = first try); finished = 1 with successful = 0 means
-- @catch handled the last attempt's exception.
SELECT flow,
       run_id,
       step,
       task_id,
       attempt AS retries,
       finished,
       successful,
       json_extract(exception, '$.type') AS exception_type
FROM tasks
WHERE attempt > 0
ORDER BY flow, run_id, step, task_id;
