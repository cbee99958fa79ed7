# bash completion for the stolos tools: flags, their values, and app names
# for -a (read from the tasks.json named by -tasks-json on the line, or by
# STOLOS_TASKS_JSON).
#
# Install as share/bash-completion/completions/stolos, with a link of that
# name per tool (stolos-expand, ...) for bash-completion's lazy loader, or
# source it from ~/.bashrc.
#
# The table below is the only place that knows the tools. A "tool" line
# lists a tool's flags; a "flag" line gives a flag's argument: "-" for none,
# "file", "app", "word" (anything), or choices a|b|c; then a description.
# lib/docgen writes it from the tools' flag sets (make docs), and the
# awk program from its apps.awk; TestDocGenerated fails when they differ.
# BEGIN GENERATED table: edit lib/docgen and run make docs
_stolos_table='
tool stolos-expand    a app-name config configuration-backend job-id-default-template job-id-delimiter job-id-validations redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json tz
tool stolos-parents   a app-name config configuration-backend g job-id job-id-default-template job-id-delimiter job-id-validations r redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json
tool stolos-children  a app-name config configuration-backend g job-id job-id-default-template job-id-delimiter job-id-validations r redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json
tool stolos-submit    a app-name config configuration-backend history-keep job-id job-id-default-template job-id-delimiter job-id-validations max-queued priority q qb-local-path qb-redis-db qb-redis-host qb-redis-key-prefix qb-redis-password qb-redis-port qb-redis-tls qb-zookeeper-auth qb-zookeeper-hosts qb-zookeeper-timeout queue-backend readd redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json
tool stolos-claim     a app-name config configuration-backend history-keep job-id-default-template job-id-delimiter job-id-validations lease n q qb-local-path qb-redis-db qb-redis-host qb-redis-key-prefix qb-redis-password qb-redis-port qb-redis-tls qb-zookeeper-auth qb-zookeeper-hosts qb-zookeeper-timeout queue-backend redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json wait
tool stolos-state     a app-name attempt config configuration-backend count force history history-keep job-id job-id-default-template job-id-delimiter job-id-validations json list log q qb-local-path qb-redis-db qb-redis-host qb-redis-key-prefix qb-redis-password qb-redis-port qb-redis-tls qb-zookeeper-auth qb-zookeeper-hosts qb-zookeeper-timeout queue-backend redis-db redis-host redis-key-prefix redis-password redis-port redis-tls set since state tasks-json until
tool stolos-exec      a all app-name bypass-scheduler config configuration-backend grace history-keep job-id job-id-default-template job-id-delimiter job-id-validations lease log-dir loop max-load max-retry min-free-mem q qb-local-path qb-redis-db qb-redis-host qb-redis-key-prefix qb-redis-password qb-redis-port qb-redis-tls qb-zookeeper-auth qb-zookeeper-hosts qb-zookeeper-timeout queue-backend redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json wait
tool stolos           a all app-name bash-cmd bypass-scheduler config configuration-backend grace history-keep job-id job-id-default-template job-id-delimiter job-id-validations lease log-dir loop max-load max-retry min-free-mem q qb-local-path qb-redis-db qb-redis-host qb-redis-key-prefix qb-redis-password qb-redis-port qb-redis-tls qb-zookeeper-auth qb-zookeeper-hosts qb-zookeeper-timeout queue-backend redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json timeout wait
tool stolos-config    config configuration-backend dump job-id-default-template job-id-delimiter job-id-validations load redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json
tool stolos-graph     a app-name config configuration-backend down history-keep job-id job-id-default-template job-id-delimiter job-id-validations max q qb-local-path qb-redis-db qb-redis-host qb-redis-key-prefix qb-redis-password qb-redis-port qb-redis-tls qb-zookeeper-auth qb-zookeeper-hosts qb-zookeeper-timeout queue-backend redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json up
tool stolos-web       config configuration-backend history-keep job-id-default-template job-id-delimiter job-id-validations listen q qb-local-path qb-redis-db qb-redis-host qb-redis-key-prefix qb-redis-password qb-redis-port qb-redis-tls qb-zookeeper-auth qb-zookeeper-hosts qb-zookeeper-timeout queue-backend redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json
tool stolos-progress  a app-name config configuration-backend history-keep interval job-id-default-template job-id-delimiter job-id-validations json q qb-local-path qb-redis-db qb-redis-host qb-redis-key-prefix qb-redis-password qb-redis-port qb-redis-tls qb-zookeeper-auth qb-zookeeper-hosts qb-zookeeper-timeout queue-backend redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json timeout wait-all watch
tool stolos-metrics   a app-name config configuration-backend history-keep job-id-default-template job-id-delimiter job-id-validations listen o q qb-local-path qb-redis-db qb-redis-host qb-redis-key-prefix qb-redis-password qb-redis-port qb-redis-tls qb-zookeeper-auth qb-zookeeper-hosts qb-zookeeper-timeout queue-backend redis-db redis-host redis-key-prefix redis-password redis-port redis-tls tasks-json window
flag a                        app                               the app
flag all                      -                                 claim jobs of every app
flag app-name                 app                               the app, as -a
flag attempt                  word                              with -log, the attempt with this number
flag bash-cmd                 word                              words to append to the command, the rest of the line
flag bypass-scheduler         -                                 run the named jobs and change no state
flag config                   file                              read flags from a file
flag configuration-backend    json|redis                        where the configuration is
flag count                    -                                 count the jobs of the app by state
flag down                     -                                 draw the jobs and their descendants, by state
flag dump                     -                                 write the configuration as a tasks.json
flag force                    -                                 with -set completed, stop a running job first
flag g                        -                                 add the dependency group
flag grace                    word                              time from SIGTERM to SIGKILL
flag history                  -                                 the recorded attempts of the jobs
flag history-keep             word                              attempts of each job kept in its history
flag interval                 word                              the time between two reports
flag job-id                   word                              a job id, as an argument
flag job-id-default-template  word                              job id template of apps without job_id
flag job-id-delimiter         word                              text between the identifiers of a job id
flag job-id-validations       file                              identifier rules, a JSON file
flag json                     -                                 write JSON objects, one per line
flag lease                    word                              hold claimed jobs this long
flag list                     -                                 every known job of the app
flag listen                   word                              serve over HTTP on this address
flag load                     file                              make this tasks.json the configuration in Redis
flag log                      -                                 the log of the latest recorded attempt
flag log-dir                  file                              write each attempt output under this directory (- for stderr)
flag loop                     -                                 keep claiming and running jobs
flag max                      word                              draw at most N jobs, summing up the rest
flag max-load                 word                              take no job while the load per core is over this
flag max-queued               word                              queue nothing if an app would pass this many queued jobs
flag max-retry                word                              failed attempts that make a failure final
flag min-free-mem             word                              take no job while available memory is under this
flag n                        word                              claim up to N jobs
flag o                        file                              write the metrics into this file, atomically
flag priority                 word                              queue priority, lower runs first
flag q                        -                                 quiet, no warnings or progress
flag qb-local-path            file                              local backend, the SQLite file
flag qb-redis-db              word                              redis backend, database number
flag qb-redis-host            word                              redis backend, host
flag qb-redis-key-prefix      word                              redis backend, key prefix
flag qb-redis-password        word                              redis backend, password
flag qb-redis-port            word                              redis backend, port
flag qb-redis-tls             -                                 redis backend, connect with TLS
flag qb-zookeeper-auth        word                              zookeeper backend, digest user and password
flag qb-zookeeper-hosts       word                              zookeeper backend, host and port list and chroot
flag qb-zookeeper-timeout     word                              zookeeper backend, session timeout
flag queue-backend            local|zookeeper|redis             where job state lives
flag r                        -                                 recursive, every ancestor or descendant once
flag readd                    -                                 queue again in any state, resetting descendants
flag redis-db                 word                              configuration backend redis, database number
flag redis-host               word                              configuration backend redis, host
flag redis-key-prefix         word                              configuration backend redis, key prefix
flag redis-password           word                              configuration backend redis, password
flag redis-port               word                              configuration backend redis, port
flag redis-tls                -                                 configuration backend redis, connect with TLS
flag set                      pending|completed|failed|skipped  set the state of the jobs
flag since                    word                              with -history, the app attempts that ended since this time
flag state                    pending|completed|failed|skipped  with -list, only jobs in this state
flag tasks-json               file                              the apps configuration, a tasks.json file
flag timeout                  word                              wait this long, for a job (stolos) or with -wait-all
flag tz                       word                              time zone of relative dates such as today-7
flag until                    word                              with -history -since, only those that ended before this time
flag up                       -                                 draw the jobs and their ancestors, by state
flag wait                     word                              wait this long for work
flag wait-all                 -                                 report until no job will move, exit 0 if all completed
flag watch                    -                                 report again every interval
flag window                   word                              count the attempts that ended in this last duration
'
# END GENERATED

# _stolos_apps FILE writes the app names of a tasks.json: the keys of its
# top-level object, found by tracking strings and brace depth.
_stolos_apps() {
	awk '# begin stolos app names
BEGIN { bs = sprintf("%c", 92); dq = sprintf("%c", 34); tab = sprintf("%c", 9); cr = sprintf("%c", 13) }
{
	n = length($0)
	for (i = 1; i <= n; i++) {
		c = substr($0, i, 1)
		if (instr) {
			if (esc) esc = 0
			else if (c == bs) esc = 1
			else if (c == dq) { instr = 0; if (depth == 1) { key = s; have = 1 }; continue }
			s = s c
			continue
		}
		if (c == " " || c == tab || c == cr) continue
		if (have && c == ":") print key
		have = 0
		if (c == dq) { instr = 1; s = "" }
		else if (c == "{" || c == "[") depth++
		else if (c == "}" || c == "]") depth--
	}
}
# end stolos app names' "$1" 2>/dev/null
}

declare -gA _stolos_flags=() _stolos_kind=()
_stolos_load() {
	local kind name rest
	while read -r kind name rest; do
		case $kind in
		tool) _stolos_flags[$name]=" $rest " ;;
		flag) _stolos_kind[$name]=${rest%% *} ;;
		esac
	done <<<"$_stolos_table"
}
_stolos_load

_stolos() {
	local tool=${COMP_WORDS[0]##*/} cur=${COMP_WORDS[COMP_CWORD]}
	local flags=${_stolos_flags[$tool]} tasks=${STOLOS_TASKS_JSON-}
	local i w name expect=
	COMPREPLY=()
	[[ -n $flags ]] || return 0
	# Walk the words before the cursor: flags, their values, and the first
	# argument, after which the flag package takes no more flags.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -n $expect ]]; then
			[[ $w == = ]] && continue
			[[ $expect == tasks-json ]] && tasks=$w
			expect=
			continue
		fi
		case $w in
		--) return 0 ;;
		-?*) ;;
		*) return 0 ;;
		esac
		name=${w#-}
		name=${name#-}
		if [[ $name == *=* ]]; then
			[[ ${name%%=*} == tasks-json ]] && tasks=${name#*=}
			continue
		fi
		if [[ $flags == *" $name "* && ${_stolos_kind[$name]} != - ]]; then
			expect=$name
		fi
	done
	if [[ -n $expect ]]; then
		[[ $cur == = ]] && cur=
		case ${_stolos_kind[$expect]} in
		file)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			;;
		app)
			tasks=${tasks/#\~/$HOME}
			[[ -n $tasks ]] && mapfile -t COMPREPLY < <(compgen -W "$(_stolos_apps "$tasks")" -- "$cur")
			;;
		word) ;;
		*) mapfile -t COMPREPLY < <(compgen -W "${_stolos_kind[$expect]//|/ }" -- "$cur") ;;
		esac
		return 0
	fi
	if [[ $cur == -* ]]; then
		local words=(-h -version)
		for name in $flags; do
			words+=("-$name")
		done
		mapfile -t COMPREPLY < <(compgen -W "${words[*]}" -- "$cur")
	fi
	return 0
}

complete -F _stolos "${!_stolos_flags[@]}"
