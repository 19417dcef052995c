//! `/status`: a plain status page (messages by status, the latest
//! messages) for whoever runs the server. It needs no sign-in, so it shows
//! ids and statuses only: no names, numbers or message text. The console
//! (sign-in) is at `/`.

use super::AppState;
use crate::store::OutboxFilter;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().route("/status", get(page))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn page(State(app): State<AppState>) -> Html<String> {
    let counts = app.store.status_counts(None).await.unwrap_or_default();
    let recent = app
        .store
        .list_outbox(&OutboxFilter {
            limit: 30,
            from: Some(app.clock.now() - chrono::Duration::days(1)),
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    let tz = app.config.timezone;
    let mut h = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <meta http-equiv=\"refresh\" content=\"5\"><title>careminder</title>\
         <style>body{font:15px system-ui,sans-serif;margin:1.5rem;max-width:60rem}table{border-collapse:collapse;width:100%}\
         td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}.n{font-size:1.6rem}</style></head><body>",
    );
    h.push_str(&format!(
        "<h1>careminder</h1><p>Now: {} ({})</p><h2>Messages by status</h2><p>",
        app.clock.now().with_timezone(&tz).format("%Y-%m-%d %H:%M"),
        tz.name()
    ));
    for c in &counts {
        h.push_str(&format!(
            "<span class=n>{}</span> {} &nbsp; ",
            c.count,
            esc(c.status.as_str())
        ));
    }
    h.push_str("</p><h2>Recent and upcoming</h2><table><tr><th>#</th><th>send at</th><th>step</th><th>status</th><th>parts</th></tr>");
    for r in recent {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.id,
            r.send_at.with_timezone(&tz).format("%m-%d %H:%M"),
            esc(r.step.as_deref().unwrap_or("")),
            esc(&r.status),
            r.parts.map(|p| p.to_string()).unwrap_or_default()
        ));
    }
    h.push_str("</table></body></html>");
    Html(h)
}
