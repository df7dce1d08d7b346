//! The status page as server-rendered HTML: one self-contained document
//! (inline style and script, no external asset: target clusters have no
//! internet) whose `<main>` is refetched as a fragment every few seconds.
//!
//! Every piece of text that comes from outside (pod names, namespaces,
//! messages, hostnames, IDs) goes through [`escape`]; the only markup is
//! ours.

use std::fmt::Write as _;

use super::model::{AgentStatus, Amounts, CoreStatus, RecentEvent, Snapshot};

/// How often the page refetches its fragment, in milliseconds.
pub const REFRESH_MS: u32 = 3000;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A duration in seconds as an operator reads it: `42s`, `3m 5s`, `2h 10m`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

fn amounts(a: &Amounts) -> String {
    format!("{} cpu · {} MB", trim(a.cpus), trim(a.mem))
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn opt(text: Option<&str>) -> String {
    text.map_or_else(|| "—".to_owned(), escape)
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2327;background:#f6f7f7}\
header{background:#23282d;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}\
header h1{font-size:18px;margin:0}\
main{padding:8px 16px;max-width:1600px}\
section{background:#fff;border:1px solid #dcdcde;border-radius:4px;margin:10px 0;padding:6px 12px;overflow-x:auto}\
h2{font-size:15px;margin:6px 0}\
table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eee;vertical-align:top}\
th{font-weight:600;color:#50575e;white-space:nowrap}\
td.msg{max-width:60ch;overflow-wrap:anywhere}\
.nowrap{white-space:nowrap}\
.mono{font-family:ui-monospace,Menlo,monospace;font-size:12px}\
.warn{color:#b32d2e}.ok{color:#00712e}.muted{color:#787c82}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:4px 0}dt{color:#50575e}dd{margin:0}";

/// The whole document.
pub fn page(s: &Snapshot) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>kube-mesos status</title><style>{STYLE}</style></head>\
         <body data-refreshed=\"0\"><header><h1>kube-mesos</h1>\
         <span>framework status · refreshes every {secs}s</span></header>\
         <main id=\"status\">{body}</main>\
         <script>\n\
         // Refetch the fragment (relative URL: works behind a path prefix).\n\
         setInterval(function(){{fetch('status/body',{{cache:'no-store'}})\
         .then(function(r){{return r.ok?r.text():null}})\
         .then(function(t){{if(t!==null){{document.getElementById('status').innerHTML=t;\
         var b=document.body;b.dataset.refreshed=String(Number(b.dataset.refreshed)+1)}}}})\
         .catch(function(){{}})}},{REFRESH_MS});\n\
         </script></body></html>\n",
        secs = REFRESH_MS / 1000,
        body = body(s),
    )
}

/// The refreshed fragment: the content of `<main>`.
pub fn body(s: &Snapshot) -> String {
    let mut out = String::new();
    framework(&mut out, s);
    match &s.core {
        Some(core) => {
            pending(&mut out, core);
            agents(&mut out, core);
            offers(&mut out, core);
        }
        None => out.push_str(
            "<section id=\"pending\"><h2>Scheduler</h2><p class=\"muted\">This replica \
             is not scheduling (standby, or not started yet): the leader's page shows \
             the queue, agents and offers.</p></section>",
        ),
    }
    recent(&mut out, &s.recent);
    out
}

fn framework(out: &mut String, s: &Snapshot) {
    let r = &s.replica;
    let core = s.core.as_ref();
    let role = if r.leader {
        "<span class=\"ok\">leader</span>"
    } else {
        "<span class=\"muted\">standby</span>"
    };
    let subscribed = if r.subscribed {
        "<span class=\"ok\">yes</span>"
    } else {
        "<span class=\"warn\">no</span>"
    };
    let _ = write!(
        out,
        "<section id=\"framework\"><h2>Framework</h2><dl>\
         <dt>Framework ID</dt><dd class=\"mono\" id=\"framework-id\">{id}</dd>\
         <dt>This replica</dt><dd><span class=\"mono\">{identity}</span> — {role}</dd>\
         <dt>Subscribed to Mesos</dt><dd>{subscribed}</dd>\
         <dt>Current executor</dt><dd class=\"mono\">{executor}</dd>\
         <dt>Updated</dt><dd>{updated}</dd></dl></section>",
        id = opt(core.and_then(|c| c.framework_id.as_deref())),
        identity = escape(&r.identity),
        executor = opt(core.map(|c| c.current_executor.as_str())),
        updated = opt(s.updated.as_deref()),
    );
}

fn pending(out: &mut String, core: &CoreStatus) {
    let _ = write!(
        out,
        "<section id=\"pending\"><h2>Pending pods ({})</h2>",
        core.pending_total
    );
    if core.pending_total > core.pending.len() {
        let _ = write!(
            out,
            "<p class=\"muted\">The first {} in queue order.</p>",
            core.pending.len()
        );
    }
    if core.pending.is_empty() {
        out.push_str("<p class=\"muted\">No pod waits for placement.</p>");
    } else {
        out.push_str(
            "<table><thead><tr><th>Namespace</th><th>Pod</th><th>Priority</th>\
             <th>Waiting</th><th>Attempts</th><th>Back-off</th>\
             <th>Last FailedScheduling</th></tr></thead><tbody>",
        );
        for p in &core.pending {
            let _ = write!(
                out,
                "<tr data-pod=\"{ns}/{name}\"><td>{ns}</td><td class=\"mono\">{name}</td>\
                 <td>{prio}</td><td>{waiting}</td><td>{attempts}</td><td>{backoff}</td>\
                 <td class=\"msg\">{reason}</td></tr>",
                ns = escape(&p.namespace),
                name = escape(&p.name),
                prio = p.priority,
                waiting = duration(p.queued_seconds),
                attempts = p.attempts,
                backoff = p.backoff_seconds.map_or_else(|| "—".into(), duration),
                reason = opt(p.last_failed_scheduling.as_deref()),
            );
        }
        out.push_str("</tbody></table>");
    }
    if !core.relaunching.is_empty() {
        out.push_str(
            "<h2>Waiting for a relaunch on their agent</h2><table><thead><tr>\
             <th>Namespace</th><th>Pod</th><th>Agent</th><th>Reason</th><th>Message</th>\
             </tr></thead><tbody>",
        );
        for p in &core.relaunching {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
                 <td>{}</td><td class=\"msg\">{}</td></tr>",
                escape(&p.namespace),
                escape(&p.name),
                escape(&p.agent_id),
                escape(&p.reason),
                escape(&p.message),
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

fn executors(a: &AgentStatus) -> String {
    if a.executors.is_empty() {
        return "—".into();
    }
    a.executors
        .iter()
        .map(|e| {
            format!(
                "<span class=\"mono\">{}</span> ({}{} pod{})",
                escape(&e.executor_id),
                if e.current { "current, " } else { "older, " },
                e.pods,
                if e.pods == 1 { "" } else { "s" },
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn agents(out: &mut String, core: &CoreStatus) {
    let _ = write!(
        out,
        "<section id=\"agents\"><h2>Agents / Nodes ({})</h2>",
        core.agents.len()
    );
    if core.agents.is_empty() {
        out.push_str("<p class=\"muted\">No agent seen yet.</p></section>");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>Node</th><th>Agent ID</th><th>Pods</th>\
         <th>Allocated (pod requests)</th><th>Offered now</th><th>Last offer</th>\
         <th>Schedulable</th><th>Maintenance</th><th>Executors</th></tr></thead><tbody>",
    );
    for a in &core.agents {
        let last = a.last_offer.as_ref().map_or_else(
            || "—".into(),
            |(res, ago)| format!("{} ({} ago)", amounts(res), duration(*ago)),
        );
        let offered = if a.offers_held == 0 {
            "—".into()
        } else {
            format!("{} ({} offers)", amounts(&a.offered_now), a.offers_held)
        };
        let _ = write!(
            out,
            "<tr data-node=\"{node}\"><td class=\"mono nowrap\">{node}</td>\
             <td class=\"mono\">{agent}</td><td>{pods}</td><td>{allocated}</td>\
             <td>{offered}</td><td>{last}</td><td>{schedulable}</td>\
             <td class=\"maintenance\">{maintenance}</td><td>{executors}</td></tr>",
            node = escape(&a.node),
            agent = opt(a.agent_id.as_deref()),
            pods = a.pods,
            allocated = amounts(&a.allocated),
            schedulable = if a.cordoned {
                "<span class=\"warn\">cordoned</span>"
            } else {
                "yes"
            },
            maintenance = escape(a.maintenance.as_deref().unwrap_or("none")),
            executors = executors(a),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn offers(out: &mut String, core: &CoreStatus) {
    let i = &core.offer_interest;
    let interest = if i.suppressed {
        "<span class=\"muted\">suppressed</span> (nothing to place)"
    } else if i.revive_wanted {
        "<span class=\"warn\">revive waiting</span> for its minimum interval"
    } else {
        "<span class=\"ok\">receiving offers</span>"
    };
    let _ = write!(
        out,
        "<section id=\"offers\"><h2>Offers</h2><dl>\
         <dt>Offers</dt><dd id=\"offer-interest\">{interest}</dd>\
         <dt>Last REVIVE</dt><dd>{revive}</dd>\
         <dt>Refuse filters</dt><dd>{filters}</dd>\
         <dt>Totals</dt><dd>{received} received, {used} used, {declined} declined; \
         {revives} revives, {suppresses} suppresses</dd></dl>\
         <h2>Held now ({held})</h2>",
        revive = i
            .last_revive_seconds
            .map_or_else(|| "never".into(), |s| format!("{} ago", duration(s))),
        filters = if i.refuse_filters_active {
            "active (offers declined since the last REVIVE)"
        } else {
            "none"
        },
        received = i.offers_received,
        used = i.offers_used,
        declined = i.offers_declined,
        revives = i.revives,
        suppresses = i.suppresses,
        held = core.offers.len(),
    );
    if core.offers.is_empty() {
        out.push_str(
            "<p class=\"muted\">No offer held (offers are held one batching window at most).</p>",
        );
    } else {
        out.push_str(
            "<table><thead><tr><th>Offer</th><th>Agent</th><th>Resources</th>\
             <th>Unavailable from</th></tr></thead><tbody>",
        );
        for o in &core.offers {
            let from = o
                .unavailable_from
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .map_or_else(|| "—".into(), |t| t.to_string());
            let _ = write!(
                out,
                "<tr><td class=\"mono\">{}</td><td class=\"mono\">{} ({})</td><td>{}</td>\
                 <td>{}</td></tr>",
                escape(&o.offer_id),
                escape(&o.hostname),
                escape(&o.agent_id),
                amounts(&o.resources),
                from,
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

fn recent(out: &mut String, events: &[RecentEvent]) {
    let _ = write!(
        out,
        "<section id=\"recent\"><h2>Recent placements and task changes ({})</h2>",
        events.len()
    );
    if events.is_empty() {
        out.push_str("<p class=\"muted\">Nothing yet.</p></section>");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>Time (UTC)</th><th>What</th><th>Pod</th><th>Node</th>\
         <th>State</th><th>Task</th><th>Detail</th></tr></thead><tbody>",
    );
    for e in events {
        let _ = write!(
            out,
            "<tr><td class=\"nowrap\">{}</td><td>{}</td><td class=\"mono\">{}</td>\
             <td class=\"mono nowrap\">{}</td>\
             <td>{}</td><td class=\"mono\">{}</td><td class=\"msg\">{}</td></tr>",
            escape(&e.at),
            escape(&e.kind),
            opt(e.pod.as_deref()),
            opt(e.node.as_deref()),
            opt(e.state.as_deref()),
            opt(e.task_id.as_deref()),
            escape(&e.detail),
        );
    }
    out.push_str("</tbody></table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::{PendingPod, Replica};

    const HOSTILE: &str = "<script>alert('x')</script>\"&";

    fn hostile_snapshot() -> Snapshot {
        Snapshot {
            replica: Replica {
                identity: HOSTILE.into(),
                leader: true,
                subscribed: true,
            },
            updated: None,
            core: Some(CoreStatus {
                framework_id: Some("fw-1".into()),
                pending: vec![PendingPod {
                    namespace: HOSTILE.into(),
                    name: HOSTILE.into(),
                    uid: "u".into(),
                    priority: 0,
                    attempts: 2,
                    queued_seconds: 75.0,
                    backoff_seconds: Some(2.0),
                    last_failed_scheduling: Some(HOSTILE.into()),
                }],
                pending_total: 1,
                agents: vec![AgentStatus {
                    node: HOSTILE.into(),
                    agent_id: Some(HOSTILE.into()),
                    pods: 1,
                    allocated: Amounts::default(),
                    offered_now: Amounts::default(),
                    offers_held: 0,
                    last_offer: None,
                    cordoned: false,
                    maintenance: None,
                    executors: Vec::new(),
                }],
                ..CoreStatus::default()
            }),
            recent: vec![RecentEvent {
                at: "t".into(),
                kind: HOSTILE.into(),
                pod: Some(HOSTILE.into()),
                node: Some(HOSTILE.into()),
                task_id: Some(HOSTILE.into()),
                state: Some(HOSTILE.into()),
                detail: HOSTILE.into(),
            }],
        }
    }

    #[test]
    fn escape_covers_markup_and_both_quotes() {
        assert_eq!(
            escape(HOSTILE),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"
        );
    }

    #[test]
    fn no_user_text_reaches_the_page_unescaped() {
        let html = page(&hostile_snapshot());
        // Our one script, and no other.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(!html.contains("alert('x')"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)"));
        assert!(html.contains("data-pod=\"&lt;script&gt;"));
        assert!(html.contains("<td class=\"maintenance\">none</td>"));
        assert!(html.contains("1m 15s"));
    }

    #[test]
    fn durations_read_like_kubectl_ages() {
        assert_eq!(duration(0.4), "0s");
        assert_eq!(duration(59.0), "59s");
        assert_eq!(duration(125.0), "2m 5s");
        assert_eq!(duration(7260.0), "2h 1m");
        assert_eq!(trim(0.5), "0.5");
        assert_eq!(trim(2.0), "2");
    }
}
