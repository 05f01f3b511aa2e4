-- Question: What is the latest successful run of every flow, and when did it finish?
-- flows.latest_successful_run is the client's Flow.latest_successful_run; the join adds the run's details.
SELECT f.flow,
       f.latest_successful_run AS run_id,
       r.finished_at,
       r.user_tags
FROM flows AS f
LEFT JOIN runs AS r ON r.flow = f.flow AND r.run_id = f.latest_successful_run
ORDER BY f.flow;
