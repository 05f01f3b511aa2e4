-- Question: Which tasks fed a failed task — every task upstream of it, with its step and how long it ran?
-- task_edges has one row per parent -> child task edge of a run (what Metaflow's client gives as
-- parent_task_pathspecs / child_task_pathspecs); the recursive CTE walks it from each failed task
-- back to its run's start task. Each lookup on child_pathspec reads that task's run only.
WITH RECURSIVE
  failed AS (
    SELECT pathspec FROM tasks WHERE successful = 0
  ),
  upstream(failed_task, pathspec, depth) AS (
    SELECT f.pathspec, e.parent_pathspec, 1 FROM failed f JOIN task_edges e ON e.child_pathspec = f.pathspec
    UNION
    SELECT u.failed_task, e.parent_pathspec, u.depth + 1 FROM upstream u JOIN task_edges e ON e.child_pathspec = u.pathspec
  )
SELECT u.failed_task,
       min(u.depth) AS steps_back,
       t.step,
       t.task_id,
       round((julianday(t.finished_at) - julianday(t.created_at)) * 86400, 3) AS seconds
FROM upstream u JOIN tasks t ON t.pathspec = u.pathspec
GROUP BY u.failed_task, u.pathspec
ORDER BY u.failed_task, steps_back, t.step, t.task_id;
