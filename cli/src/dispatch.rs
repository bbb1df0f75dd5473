//! `fieldsync dispatch`: a dispatcher at the terminal, through the server's REST API.

use std::path::PathBuf;

use clap::Subcommand;
use fieldsync_core::TicketSummary;
use fieldsync_core::actions::Command;
use fieldsync_core::model::{Classification, Customer, NewTicket, Priority, Site, Ticket};
use fieldsync_core::sync::{HttpRequest, HttpTransport, Method, ReqwestTransport, SyncError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::CliError;
use crate::device::{print_list, print_ticket};

#[derive(Subcommand)]
pub enum DispatchCommand {
    /// Create a ticket (and dispatch it when --assignee is given).
    Create {
        /// Title.
        #[arg(long)]
        title: String,
        /// Customer name (free text; with --customer-id the record's name is used).
        #[arg(long, default_value = "")]
        customer: String,
        /// A customer record's id: the ticket takes its name, phone, site address and tier,
        /// and carries its card to the engineer's device (docs/adr/0018).
        #[arg(long, default_value = "")]
        customer_id: String,
        /// The record's site (default: its first).
        #[arg(long, default_value = "")]
        site_id: String,
        /// Street address.
        #[arg(long, default_value = "")]
        address: String,
        /// Site latitude.
        #[arg(long, allow_negative_numbers = true)]
        lat: Option<f64>,
        /// Site longitude.
        #[arg(long, allow_negative_numbers = true)]
        lon: Option<f64>,
        /// Site radius in metres.
        #[arg(long, default_value_t = 150.0)]
        radius: f64,
        /// low, normal, high or urgent.
        #[arg(long, default_value = "normal", value_parser = parse_priority)]
        priority: Priority,
        /// Engineer to dispatch to.
        #[arg(long)]
        assignee: Option<String>,
        /// Ticket type, from the server's taxonomy (`on_site_repair`, `installation`, ...); the
        /// server's SLA policy gives the deadlines for the priority, tier and type.
        #[arg(long = "type", default_value = "")]
        ticket_type: String,
    },
    /// Assign or reassign a ticket.
    Assign {
        /// Ticket id.
        id: String,
        /// Engineer's user id.
        engineer: String,
    },
    /// Put a new or rejected ticket into the shared pool, where the first engineer to claim
    /// it on their phone gets it.
    Pool {
        /// Ticket id.
        id: String,
        /// Only this skill group's engineers hold it and may claim it (default: everyone).
        #[arg(long)]
        group: Option<String>,
    },
    /// Cancel a ticket.
    Cancel {
        /// Ticket id.
        id: String,
        /// Why.
        #[arg(long, default_value = "cancelled by dispatcher")]
        reason: String,
    },
    /// Reopen a completed or cancelled ticket.
    Reopen {
        /// Ticket id.
        id: String,
        /// Why.
        #[arg(long, default_value = "reopened by dispatcher")]
        reason: String,
    },
    /// List tickets.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one ticket with its history.
    Show {
        /// Ticket id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch a ticket's service report (PDF) as the server makes it, into a file.
    Report {
        /// Ticket id.
        id: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Document heads (hex, comma-separated) to make it from; default: the ticket now.
        #[arg(long, value_delimiter = ',')]
        heads: Vec<String>,
        /// Show times at this offset from UTC, in minutes (China: 480).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        utc_offset_minutes: i32,
    },
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    Priority::parse(s).ok_or_else(|| format!("unknown priority {s:?}: use low, normal, high or urgent"))
}

/// A small JSON client for the REST API. It goes out through the same transport and reads
/// refusals with the same map as the device's sync ([`SyncError`]), so one cause reads the
/// same whichever command met it ("network: ...", "the server refused this device's token").
pub struct Api {
    transport: ReqwestTransport,
    base: String,
    token: String,
}

impl Api {
    /// A client for `server` with `token`.
    pub fn new(server: &str, token: &str) -> Result<Api, CliError> {
        let transport = ReqwestTransport::new(std::time::Duration::from_secs(30)).map_err(SyncError::from)?;
        Ok(Api { transport, base: server.trim_end_matches('/').to_owned(), token: token.to_owned() })
    }

    /// Sends a request; the body of a successful answer, or the error its failure means.
    async fn send(&self, request: HttpRequest) -> Result<Vec<u8>, CliError> {
        let request = request.header("authorization", format!("Bearer {}", self.token));
        let response = self.transport.send(request).await.map_err(SyncError::from)?;
        if !response.is_success() {
            return Err(SyncError::from_response(response.status, &response.body).into());
        }
        Ok(response.body)
    }

    /// GET a resource's bytes as they are (a PDF).
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, CliError> {
        self.send(HttpRequest::new(Method::Get, format!("{}{path}", self.base))).await
    }

    /// GET a JSON resource.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        Ok(serde_json::from_slice(&self.get_bytes(path).await?)?)
    }

    /// POST a JSON body.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, CliError> {
        let request = HttpRequest::new(Method::Post, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body)?);
        Ok(serde_json::from_slice(&self.send(request).await?)?)
    }

    /// POST a form (`application/x-www-form-urlencoded`), as a browser does; the answer's body
    /// is not read.
    pub async fn post_form(&self, path: &str, form: &str) -> Result<(), CliError> {
        let request = HttpRequest::new(Method::Post, format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.as_bytes().to_vec());
        self.send(request).await.map(drop)
    }

    /// Creates a ticket; returns its id.
    pub async fn create(&self, new: &NewTicket) -> Result<String, CliError> {
        let created: serde_json::Value = self.post("/v1/tickets", new).await?;
        created["id"].as_str().map(str::to_owned).ok_or_else(|| CliError("the server returned no ticket id".into()))
    }

    /// Runs an action on a ticket.
    pub async fn act(&self, id: &str, command: &Command) -> Result<(), CliError> {
        let _: serde_json::Value = self.post(&format!("/v1/tickets/{id}/actions"), command).await?;
        Ok(())
    }

    /// Every ticket's summary.
    pub async fn list(&self) -> Result<Vec<TicketSummary>, CliError> {
        self.get("/v1/tickets").await
    }
}

impl DispatchCommand {
    /// The ticket id the command names, if any, to be completed from a typed prefix.
    fn ticket_id(&mut self) -> Option<&mut String> {
        use DispatchCommand as D;
        match self {
            D::Assign { id, .. }
            | D::Pool { id, .. }
            | D::Cancel { id, .. }
            | D::Reopen { id, .. }
            | D::Show { id, .. }
            | D::Report { id, .. } => Some(id),
            D::Create { .. } | D::List { .. } => None,
        }
    }
}

/// Runs one dispatcher command.
pub async fn run(server: &str, token: &str, command: DispatchCommand) -> Result<(), CliError> {
    let api = Api::new(server, token)?;
    let mut command = command;
    if let Some(id) = command.ticket_id() {
        let tickets = api.list().await?;
        *id = crate::ids::resolve(id, tickets.iter().map(|t| t.id.as_str()))?;
    }
    match command {
        DispatchCommand::Create {
            title,
            customer,
            customer_id,
            site_id,
            address,
            lat,
            lon,
            radius,
            priority,
            assignee,
            ticket_type,
        } => {
            let site = lat.zip(lon).map(|(lat, lon)| Site { lat, lon, radius_m: radius });
            let new = NewTicket {
                title,
                customer: Customer { name: customer, address, id: customer_id, site_id, ..Default::default() },
                site,
                priority,
                assignee,
                classification: Classification { ticket_type, ..Default::default() },
                ..Default::default()
            };
            println!("{}", api.create(&new).await?);
        }
        DispatchCommand::Assign { id, engineer } => {
            api.act(&id, &Command::Assign { engineer: engineer.clone() }).await?;
            println!("assigned {id} to {engineer}");
        }
        DispatchCommand::Pool { id, group } => {
            let whose = group.as_deref().map(|g| format!(" of group {g}")).unwrap_or_default();
            api.act(&id, &Command::Pool { group }).await?;
            println!("put {id} in the pool{whose}");
        }
        DispatchCommand::Cancel { id, reason } => {
            api.act(&id, &Command::Cancel { reason }).await?;
            println!("cancelled {id}");
        }
        DispatchCommand::Reopen { id, reason } => {
            api.act(&id, &Command::Reopen { reason }).await?;
            println!("reopened {id}");
        }
        DispatchCommand::List { json } => {
            let tickets = api.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tickets)?);
            } else {
                print_list(&tickets);
            }
        }
        DispatchCommand::Report { id, out, heads, utc_offset_minutes } => {
            // Ids and heads are sent as path and query parts: only safe characters pass.
            let safe = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !safe(&id) || !heads.iter().all(|h| safe(h)) {
                return Err(CliError("ticket ids and heads are letters, digits and dashes".into()));
            }
            let pdf = api
                .get_bytes(&format!(
                    "/v1/tickets/{id}/report.pdf?heads={}&utc_offset_minutes={utc_offset_minutes}",
                    heads.join(",")
                ))
                .await?;
            std::fs::write(&out, &pdf)?;
            println!("wrote the service report of {id} ({} bytes) to {}", pdf.len(), out.display());
        }
        DispatchCommand::Show { id, json } => {
            let value: serde_json::Value = api.get(&format!("/v1/tickets/{id}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                let ticket: Ticket = serde_json::from_value(value)?;
                print_ticket(&ticket);
            }
        }
    }
    Ok(())
}
