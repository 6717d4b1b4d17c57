//! Ctrl-C as a value: [`Interrupt::install`] starts listening once, and every loop that must end
//! cleanly on Ctrl-C (a watch, a job's log tail, a local run, `logs --follow`) asks
//! [`Interrupt::is_set`] or awaits [`Interrupt::wait`]. Listening also keeps SIGINT from killing
//! wharf midway through a call, so a deploy lock is always released.

use tokio::sync::watch;

/// Whether Ctrl-C was pressed since [`Interrupt::install`]; clones share the one listener.
#[derive(Clone, Debug)]
pub struct Interrupt(watch::Receiver<bool>);

impl Interrupt {
    /// Starts listening for Ctrl-C (needs a tokio runtime).
    pub fn install() -> Interrupt {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
        Interrupt(rx)
    }

    /// Whether Ctrl-C was pressed.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once Ctrl-C is pressed (never, if the listener is gone without it).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
