-- Question: Which tasks of a foreach failed, for which item, and with which exception?
-- foreach_index is the task's index in its innermost foreach (NULL outside one); exception is JSON
-- {"type", "message", "stacktrace"}.
SELECT flow,
       run_id,
       step,
       task_id,
       foreach_index,
       json_extract(exception, '$.type') AS exception_type,
       json_extract(exception, '$.message') AS message
FROM tasks
WHERE successful = 0 AND foreach_index IS NOT NULL
ORDER BY flow, run_id, step, foreach_index;
