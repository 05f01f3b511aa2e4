-- Question: How many runs did each user start per day, and how many of them succeeded?
SELECT user,
       date(created_at) AS day,
       count(*) AS runs,
       sum(successful) AS successful,
       sum(status = 'failed') AS failed
FROM runs
GROUP BY user, day
ORDER BY day, user;
