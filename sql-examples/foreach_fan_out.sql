-- Question: How wide did each foreach fan out, run by run?
-- One row per foreach step of each run: its tasks and the highest index among them (a failed run
-- stops before every item ran).
SELECT run_id,
       step,
       count(*) AS tasks,
       max(foreach_index) AS max_index
FROM tasks
WHERE flow = 'BranchForeachFlow' AND foreach_index IS NOT NULL
GROUP BY run_id, step
ORDER BY run_id, step;
