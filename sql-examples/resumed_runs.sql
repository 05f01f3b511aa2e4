-- Question: Which runs were resumed from an earlier run, and how many of their tasks were cloned rather than re-run?
SELECT r.flow,
       r.run_id,
       r.origin_run_id,
       r.status,
       count(t.task_id) AS tasks,
       count(t.origin_pathspec) AS cloned_tasks
FROM runs AS r
JOIN tasks AS t ON t.flow = r.flow AND t.run_id = r.run_id
WHERE r.origin_run_id IS NOT NULL
GROUP BY r.flow, r.run_id
ORDER BY r.flow, r.run_id;
