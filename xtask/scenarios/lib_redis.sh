# The benchmarks' Redis (bench.sh and auto.sh; prepended by the host after lib.sh):
# redis-server on 127.0.0.1:6379, no persistence, in cgroup $1 (a path under $CG), its
# PID in REDIS; waits until it answers, then sets bench:key to a 3-byte value (as
# redis-benchmark's default).
redis_start() {
	sh -c "echo \$\$ > $CG/$1/cgroup.procs && exec redis-server --port 6379 --bind 127.0.0.1 \
		--save '' --appendonly no --daemonize no --logfile /tmp/redis.log" &
	REDIS=$!
	i=0
	until redis-cli -p 6379 ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 100 ] && { echo "@@MUS bench_error redis_start"; cat /tmp/redis.log; break; }
		sleep 0.1
	done
	redis-cli -p 6379 set bench:key xxx >/dev/null
}
