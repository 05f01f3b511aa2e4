-- Question: Which runs carry a team: tag, what state are they in, and what other tags do they have?
SELECT t.flow,
       t.run_id,
       t.tag AS team,
       r.status,
       r.user_tags
FROM tags AS t
JOIN runs AS r ON r.flow = t.flow AND r.run_id = t.run_id
WHERE t.system = 0 AND t.tag LIKE 'team:%'
ORDER BY t.flow, t.run_id;
