// The composition root of `gatehouse serve`: configuration, policy snapshot, workers, signals.
//
//   SIGHUP           reload: a new snapshot is built and validated, then swapped in; requests
//                    and tunnels in flight finish on the snapshot they started with; a bad
//                    configuration keeps the old one and says why on stderr.
//   SIGTERM/SIGINT   drain: stop accepting, let in-flight requests finish up to
//                    [listener] drain_timeout_ms, then close tunnels and exit 0.
//
// Threading: serve() runs on the main thread, which only handles signals; each worker has its
// own thread and loop.
#pragma once

#include <ostream>
#include <string>

namespace gatehouse::server {

// Runs until drained; returns the process exit status. `config_path` "" = built-in defaults.
int serve(const std::string& config_path, std::ostream& out, std::ostream& err);

}  // namespace gatehouse::server
