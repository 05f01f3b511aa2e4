-- Question: How long did each step of a run take, from its first task's start to its last task's end?
SELECT step,
       task_count,
       created_at,
       finished_at,
       round((julianday(finished_at) - julianday(created_at)) * 86400, 3) AS seconds
FROM steps
WHERE flow = 'BranchForeachFlow' AND run_id = '1795738098817315'
ORDER BY created_at, step;
