-- Question: What columns does the tasks table have, which of them are fast lookups, and what do they mean?
SELECT column_name,
       type,
       is_key,
       description
FROM metaflow_columns
WHERE table_name = 'tasks'
ORDER BY position;
