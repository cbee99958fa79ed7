#!/bin/sh
# The README's demo: builds every tool and runs a daily pipeline on the
# embedded (SQLite) backend: preprocess per date and client, model builds
# per target that need every client of their date, a report that needs
# every model. Nothing to install beyond Go.
set -eu
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== building into $work/bin"
CGO_ENABLED=0 go build -trimpath -o "$work/bin/" ./cmd/...
PATH=$work/bin:$PATH
export STOLOS_TASKS_JSON="$PWD/testdata/demo/tasks.json"
export STOLOS_JOB_ID_VALIDATIONS="$PWD/testdata/demo/validations.json"
export STOLOS_QB_LOCAL_PATH="$work/stolos.db"
export STOLOS_LOG_DIR="$work/log"   # each attempt's output (default: $XDG_STATE_HOME/stolos/log)
show() { echo; echo "\$ $*"; sh -c "$*"; }

show 'cat testdata/demo/tasks.json'
show 'stolos-expand -a preprocess date=20260130..20260202 | head -6'
show 'stolos-parents -a daily_report 20260201'
show 'stolos-parents -r -a daily_report 20260201'
show 'stolos-children -r -a preprocess 20260201_2'
show 'stolos-graph    # the apps in DOT; stolos-graph | dot -Tsvg > apps.svg draws them'

echo; echo "== asking for three reports queues everything they need (bubble up)"
show 'stolos-expand -a daily_report date=20260131..20260202 | stolos-submit -a daily_report'
show 'stolos-state -a daily_report -list'
for _ in 1 2 3; do
	for app in daily_report model_build preprocess; do
		stolos-exec -q -loop -a "$app" 2>/dev/null || true
	done
done
show 'stolos-state -a model_build -count'
show 'stolos-state -a daily_report -list'

echo; echo "== a job that fails is retried, then fixed with -readd"
cat > "$work/flaky.json" <<'JSON'
{"flaky": {"job_id": "{date}", "bash_cmd": "test -e $FIXED", "max_retry": 2}}
JSON
export STOLOS_TASKS_JSON="$work/flaky.json" FIXED="$work/fixed"
show 'stolos-submit -a flaky 20260201'
show 'stolos-exec -a flaky || echo "exit status $?"'
show 'stolos-exec -a flaky || echo "exit status $?"'
show 'stolos-state -a flaky 20260201'
show 'stolos-state -a flaky -history 20260201    # every attempt, and where its log is'
show "touch $work/fixed && stolos-submit -readd -a flaky 20260201 && stolos-exec -a flaky"
show 'stolos-state -a flaky 20260201'

echo; echo "== scheduled and induced dispatch: a crontab line and a sensor"
# A load per day whose input file lands in an inbox some time later: its
# ready_cmd says "not yet" (exit 75) until the file is there, so the job
# waits, queued, without using up its retries.
cat > "$work/load.json" <<'JSON'
{"load": {"job_id": "{date}", "bash_cmd": "echo loading $INBOX/{date}.csv",
          "ready_cmd": "test -e $INBOX/{date}.csv || exit 75",
          "ready_poll": "1s", "ready_timeout": "6h"}}
JSON
mkdir "$work/inbox"
export STOLOS_TASKS_JSON="$work/load.json" INBOX="$work/inbox"
show "cat $work/load.json"
show 'stolos-expand -a load date=yesterday..today    # in the local time zone; -tz names another'
show 'stolos-expand -a load date=yesterday..today | stolos-submit -a load    # what cron runs'
show 'stolos-exec -a load -loop    # neither input is there: both wait, no attempt counted'
show 'stolos-state -a load -list'
show "touch $work/inbox/\$(date +%Y%m%d).csv && sleep 1 && stolos-exec -a load -loop"
show 'stolos-state -a load -list'
