//! HAProxy's runtime API: one command on the admin socket
//! ([`runtime_command`]), and its `show stat` CSV read by column name
//! ([`parse_show_stat`]).

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

/// One server's line of `show stat`, the columns the harness reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerStat {
    /// `svname`.
    pub name: String,
    /// `status`: `UP`, `DOWN`, `MAINT`, `DRAIN`, `UP 1/2`, …
    pub status: String,
    /// `req_tot`: HTTP requests this server answered.
    pub req_tot: u64,
    /// `scur`: requests in flight on it now.
    pub scur: u64,
    /// `wredis`: requests redispatched away from it.
    pub wredis: u64,
}

impl ServerStat {
    /// The status without its check progress: `UP 1/2` (up, one failed
    /// check of the two that take it down) is `UP`, `DOWN 0/1` is `DOWN`.
    pub fn state(&self) -> &str {
        self.status.split_whitespace().next().unwrap_or("")
    }
}

/// Reads the servers of `backend` from `show stat` CSV (header first,
/// `# pxname,svname,…`; columns looked up by name, since their number grows
/// from one HAProxy version to the next).
pub fn parse_show_stat(csv: &str, backend: &str) -> Result<Vec<ServerStat>> {
    let mut lines = csv.lines();
    let header = lines.next().and_then(|h| h.strip_prefix("# ")).context("`show stat` gave no header line")?;
    let columns: Vec<&str> = header.split(',').collect();
    let column = |name: &str| columns.iter().position(|c| *c == name).with_context(|| format!("no `{name}` column"));
    let (px, sv, status, req_tot, scur, wredis) = (
        column("pxname")?,
        column("svname")?,
        column("status")?,
        column("req_tot")?,
        column("scur")?,
        column("wredis")?,
    );
    let number = |fields: &[&str], i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let mut servers = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.get(px) != Some(&backend) || matches!(fields.get(sv), Some(&"BACKEND" | &"FRONTEND") | None) {
            continue;
        }
        servers.push(ServerStat {
            name: fields[sv].to_string(),
            status: fields.get(status).unwrap_or(&"").to_string(),
            req_tot: number(&fields, req_tot),
            scur: number(&fields, scur),
            wredis: number(&fields, wredis),
        });
    }
    Ok(servers)
}

/// Sends one command to HAProxy's runtime API on `socket` and returns its
/// whole answer (the socket is in non-interactive mode: one command, then
/// HAProxy closes the connection).
pub fn runtime_command(socket: &Path, command: &str) -> Result<String> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("cannot connect to HAProxy's socket {}", socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).with_context(|| format!("reading HAProxy's answer to `{command}`"))?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_stat_is_read_by_column_name() {
        let csv = "# pxname,svname,qcur,scur,wredis,status,req_tot,extra\n\
                   users,FRONTEND,,3,,OPEN,10,\n\
                   nodes,stateful-1,0,1,4,UP,7,\n\
                   nodes,stateful-2,0,0,0,MAINT,0,\n\
                   nodes,BACKEND,0,1,4,UP,7,\n\
                   other,s,0,0,0,UP,99,\n";
        let stats = parse_show_stat(csv, "nodes").unwrap();
        assert_eq!(
            stats,
            vec![
                ServerStat { name: "stateful-1".into(), status: "UP".into(), req_tot: 7, scur: 1, wredis: 4 },
                ServerStat { name: "stateful-2".into(), status: "MAINT".into(), req_tot: 0, scur: 0, wredis: 0 },
            ]
        );
        assert!(parse_show_stat("Unknown command\n", "nodes").is_err());
    }
}
