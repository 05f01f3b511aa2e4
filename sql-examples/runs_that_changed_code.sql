-- Question: Which runs changed packaged_flow.py, compared with the packaged run before them?
-- Store: metaflow-code
SELECT f.run_id,
       r.created_at,
       f.sha1,
       CASE
         WHEN lag(f.sha1) OVER w IS NULL THEN 'first packaged run'
         WHEN lag(f.sha1) OVER w = f.sha1 THEN 'unchanged'
         ELSE 'changed'
       END AS change
FROM code_files AS f
JOIN runs AS r ON r.flow = f.flow AND r.run_id = f.run_id
WHERE f.flow = 'PackagedFlow' AND f.path = 'packaged_flow.py'
WINDOW w AS (ORDER BY r.created_at)
ORDER BY r.created_at;
