//! Change subscriptions: callbacks told which tickets changed, on one thread of their own, in
//! order, after each change is durable.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};

use crate::error::Error;
use crate::store::StoreError;

type Callback = Arc<dyn Fn(&[String]) + Send + Sync>;

#[derive(Default)]
struct Subscribers {
    next: AtomicU64,
    callbacks: Mutex<BTreeMap<u64, Callback>>,
}

/// The client's subscribers and the thread that calls them.
pub(super) struct Notifier {
    subscribers: Arc<Subscribers>,
    changed: mpsc::Sender<Delivery>,
}

/// Changed ids for every subscriber, or for one (its first call).
struct Delivery {
    only: Option<u64>,
    ids: Vec<String>,
}

impl Notifier {
    /// Starts the notifier thread; it ends when the notifier is dropped.
    pub(super) fn start() -> Result<Notifier, Error> {
        let subscribers = Arc::new(Subscribers::default());
        let changed = spawn_notifier(Arc::downgrade(&subscribers))?;
        Ok(Notifier { subscribers, changed })
    }

    /// Adds `callback`; dropping the returned handle removes it.
    pub(super) fn subscribe(&self, callback: impl Fn(&[String]) + Send + Sync + 'static) -> Subscription {
        let id = self.subscribers.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.subscribers.callbacks.lock() {
            map.insert(id, Arc::new(callback));
        }
        Subscription { subscribers: Arc::downgrade(&self.subscribers), id }
    }

    /// [`Notifier::subscribe`], and a first call with `first` on the notifier thread, in order
    /// with every later one (a first call made on the caller's thread could overtake a change).
    pub(super) fn subscribe_with_first(
        &self,
        first: Vec<String>,
        callback: impl Fn(&[String]) + Send + Sync + 'static,
    ) -> Subscription {
        let subscription = self.subscribe(callback);
        let _ = self.changed.send(Delivery { only: Some(subscription.id), ids: first });
        subscription
    }

    /// Drops every callback (the client closed): no subscriber is called again.
    pub(super) fn close(&self) {
        if let Ok(mut map) = self.subscribers.callbacks.lock() {
            map.clear();
        }
    }

    /// Tells every subscriber, on the notifier thread, that `ids` changed.
    pub(super) fn notify(&self, ids: Vec<String>) {
        let listening = self.subscribers.callbacks.lock().map(|map| !map.is_empty()).unwrap_or(false);
        if listening {
            // The notifier thread only stops when the client is dropped; nothing to do then.
            let _ = self.changed.send(Delivery { only: None, ids });
        }
    }
}

/// A live subscription; dropping it stops the callback.
pub struct Subscription {
    subscribers: Weak<Subscribers>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(subscribers) = self.subscribers.upgrade() {
            if let Ok(mut map) = subscribers.callbacks.lock() {
                map.remove(&self.id);
            }
        }
    }
}

/// One thread delivers change notifications in order; it ends when the client is dropped.
fn spawn_notifier(subscribers: Weak<Subscribers>) -> Result<mpsc::Sender<Delivery>, Error> {
    let (sender, receiver) = mpsc::channel::<Delivery>();
    std::thread::Builder::new()
        .name("fieldsync-notify".into())
        .spawn(move || {
            for Delivery { only, ids } in receiver {
                let Some(subscribers) = subscribers.upgrade() else { return };
                let callbacks: Vec<Callback> = match subscribers.callbacks.lock() {
                    Ok(map) => match only {
                        Some(id) => map.get(&id).cloned().into_iter().collect(),
                        None => map.values().cloned().collect(),
                    },
                    Err(_) => return,
                };
                // Released before the calls: a callback may subscribe or drop a subscription.
                drop(subscribers);
                for callback in callbacks {
                    // A panicking app callback must not stop notifications for the others.
                    let _ = catch_unwind(AssertUnwindSafe(|| callback(&ids)));
                }
            }
        })
        .map_err(StoreError::Io)?;
    Ok(sender)
}
