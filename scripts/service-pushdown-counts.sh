#!/bin/bash
# Requests and bytes per run question against a live service loaded by tests/support/live_service.sh
# plus live_pushdown_test (PushSmallFlow 30 runs, PushBigFlow 120 runs). Usage:
#   scripts/service-pushdown-counts.sh <path/to/metaflow.so> <live.json>   (compare two builds)
SO=$1; LIVE=${2:?live.json};  URL=$(python3 -c "import json;print(json.load(open('$LIVE'))['url'])"); DS="$(cd "$(dirname "$0")/../../shared/fixtures/metaflow-service/datastore" && pwd)"
q() { printf "%-58s " "$1"; sqlite3 :memory: ".load ${SO%.so}" "CREATE VIRTUAL TABLE temp.runs USING runs(service='$URL', datastore='$DS')" "CREATE VIRTUAL TABLE temp.flows USING flows(service='$URL', datastore='$DS')" "CREATE VIRTUAL TABLE temp.tags USING tags(service='$URL', datastore='$DS')" "$2" "SELECT 'requests=' || count(*) || ' bytes=' || coalesce(sum(bytes),0) FROM metaflow_trace WHERE kind='http' AND cache_hit=0" | tail -1; echo; }
q "latest 10 runs of PushBigFlow (120 runs)" "SELECT run_id FROM runs WHERE flow='PushBigFlow' LIMIT 10"
q "latest 10 runs of PushSmallFlow (30 runs)" "SELECT run_id FROM runs WHERE flow='PushSmallFlow' LIMIT 10"
q "latest 10 of LinearFlow with successful" "SELECT run_id, successful FROM runs WHERE flow='LinearFlow' LIMIT 10"
q "successful runs of RetryFlow" "SELECT run_id FROM runs WHERE flow='RetryFlow' AND successful = 1"
q "latest_run of every flow (12 flows)" "SELECT flow, latest_run FROM flows"
q "latest_successful_run, 4 fixture flows" "SELECT latest_successful_run FROM flows WHERE flow IN ('LinearFlow','FailFlow','RetryFlow','ForeachFlow')"
q "PushBigFlow runs with tag nightly, first 5" "SELECT run_id FROM tags WHERE flow='PushBigFlow' AND tag='nightly' LIMIT 5"
q "PushBigFlow runs of user bob, first 5" "SELECT run_id FROM runs WHERE flow='PushBigFlow' AND user='bob' LIMIT 5"
q "PushBigFlow runs created after the 10th newest" "SELECT run_id FROM runs WHERE flow='PushBigFlow' AND created_at > (SELECT created_at FROM runs WHERE flow='PushBigFlow' LIMIT 1 OFFSET 9)"
