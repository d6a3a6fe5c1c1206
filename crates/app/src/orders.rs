//! Queued work over HTTP: `POST /orders` checks out the cart and queues an
//! order, `GET /orders/{id}` reads it.
//!
//! `POST /orders`, in order: the session (401), then the cart is taken in
//! one atomic step of the session store (`SessionStore::take_cart`: counted
//! as a request, TTL renewed, cart emptied, items handed back), then an
//! empty cart is refused (400), then the order is placed on the queue. The
//! answer is `202 Accepted` with `{"order":"…","status":"queued"}` and a
//! `Location: /orders/{id}` to poll, as soon as the queue holds the job
//! (for RabbitMQ: once the broker confirmed it); the work is done later by
//! a worker.
//!
//! If the queue cannot take the order (503 with `Retry-After: 1`), the items
//! go back into the cart by *adding* them (`Change::AddItem`), not by
//! writing the old cart back, so whatever the user added meanwhile stays.
//! Only if the session store fails in that same moment are the items lost;
//! that is logged.
//!
//! `GET /orders/{id}`: 200 with the order as `jobs::Order` serializes it
//! (`status`, `items`, `worker`, `confirmations`, `deliveries`…), 404 for an
//! unknown id and for another user's order alike.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use jobs::{Items, OrderQueue, OrderStatus};
use serde_json::json;
use sessions::{Change, Name, SessionStore};

use crate::errors::ApiError;
use crate::routes::{authenticated, authenticated_user, credential, method_not_allowed, session_cookie};

/// What an absent queue is called in the 501 answer.
const KIND: &str = "orders";

/// Registers `/orders` and `/orders/{id}`.
pub fn configure<S: SessionStore, Q: OrderQueue>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/orders").post(place::<S, Q>).default_service(web::to(method_not_allowed)))
        .service(web::resource("/orders/{id}").get(status::<S, Q>).default_service(web::to(method_not_allowed)));
}

async fn place<S: SessionStore, Q: OrderQueue>(
    req: HttpRequest,
    store: web::Data<S>,
    queue: web::Data<Option<Q>>,
) -> Result<HttpResponse, ApiError> {
    let credential = credential(&req).ok_or(ApiError::Unauthorized)?;
    let Some(queue) = queue.get_ref() else {
        authenticated(&req, store.get_ref(), Change::Touch, |_| ()).await?;
        return Err(ApiError::NotConfigured(KIND));
    };
    let taken = store.take_cart(&credential).await?.ok_or(ApiError::Unauthorized)?;
    let owner = taken.session.user;
    let items: Items = taken.session.cart;
    let mut latest = taken.reissued;
    if items.is_empty() {
        return Err(ApiError::BadRequest("the cart is empty: add an item before checking out"));
    }
    match queue.place(&owner, items.clone()).await {
        Ok(id) => {
            let mut response = HttpResponse::Accepted();
            if let Some(credential) = latest {
                response.cookie(session_cookie(&req, credential));
            }
            Ok(response
                .insert_header((header::LOCATION, format!("/orders/{id}")))
                .json(json!({ "order": id, "status": OrderStatus::Queued })))
        }
        Err(error) => {
            tracing::warn!(%error, "order not queued; its items go back into the cart");
            let current = latest.clone().unwrap_or(credential);
            if let Some(reissued) = put_back(store.get_ref(), &current, &items).await {
                latest = Some(reissued);
            }
            let mut response = ApiError::from(error).error_response();
            if let Some(credential) = latest {
                // The token twin's cart is in the cookie: hand it back whole.
                let _ = response.add_cookie(&session_cookie(&req, credential));
            }
            Ok(response)
        }
    }
}

/// Adds `items` back into the cart of the session behind `credential`;
/// returns the credential to use from now on when the store re-issued one.
async fn put_back<S: SessionStore>(store: &S, credential: &str, items: &Items) -> Option<String> {
    let mut current = credential.to_string();
    let mut reissued = None;
    for (item, qty) in items {
        let Ok(item) = Name::parse(item) else { continue };
        let mut left = *qty;
        while left > 0 {
            let chunk = u32::try_from(left).unwrap_or(u32::MAX);
            match store.update(&current, Change::AddItem { item, qty: chunk }).await {
                Ok(Some(updated)) => {
                    if let Some(credential) = updated.reissued {
                        current.clone_from(&credential);
                        reissued = Some(credential);
                    }
                }
                Ok(None) => return reissued,
                Err(error) => {
                    tracing::error!(%error, item = %item, qty = left, "items taken for an order could not go back into the cart");
                    return reissued;
                }
            }
            left -= u64::from(chunk);
        }
    }
    reissued
}

async fn status<S: SessionStore, Q: OrderQueue>(
    req: HttpRequest,
    id: web::Path<String>,
    store: web::Data<S>,
    queue: web::Data<Option<Q>>,
) -> Result<HttpResponse, ApiError> {
    let updated = authenticated_user(&req, store.get_ref()).await?;
    let Some(queue) = queue.get_ref() else {
        return Err(ApiError::NotConfigured(KIND));
    };
    let owner = updated.session;
    let order = queue.status(&owner, &id).await?.ok_or(ApiError::NotFound)?;
    let mut response = HttpResponse::Ok();
    if let Some(credential) = updated.reissued {
        response.cookie(session_cookie(&req, credential));
    }
    Ok(response.json(order))
}
