-- Question: Which log lines of a run mention an Error, and in which task?
-- GLOB is case-sensitive, like grep; LIKE would also match "error".
SELECT step,
       task_id,
       stream,
       line_no,
       line
FROM logs
WHERE flow = 'RetryCatchFlow' AND run_id = '1795738160197500' AND line GLOB '*Error*'
ORDER BY step, task_id, stream, line_no;
