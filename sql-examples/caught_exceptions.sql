-- Question: Which tasks raised an exception that @catch handled, so the run carried on?
-- Such a task is finished (its _task_ok is true) but not successful.
SELECT flow,
       run_id,
       step,
       task_id,
       attempt
FROM tasks
WHERE finished = 1 AND successful = 0
ORDER BY flow, run_id, step;
