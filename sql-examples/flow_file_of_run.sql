-- Question: What did the flow file of run 1796112560799526 say (the code that run ran)?
-- Store: metaflow-code
SELECT r.run_id,
       r.script_name,
       f.size,
       f.sha1,
       f.text
FROM runs AS r
JOIN code_files AS f ON f.flow = r.flow AND f.run_id = r.run_id AND f.path = r.script_name
WHERE r.flow = 'PackagedFlow' AND r.run_id = '1796112560799526'
ORDER BY f.path;
