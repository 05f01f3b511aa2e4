-- Question: Which user tags are in use, and on how many runs and flows?
SELECT tag,
       count(*) AS runs,
       count(DISTINCT flow) AS flows
FROM tags
WHERE system = 0
GROUP BY tag
ORDER BY runs DESC, tag;
