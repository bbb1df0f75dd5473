//! SQLite transactions begun and ended by prepared statements, for the device's store and the
//! server's SQLite storage alike.
//!
//! rusqlite's `Transaction` sends `BEGIN` and `COMMIT` through `execute_batch`, which parses
//! them again at every transaction: 3% of a device's CPU and 1.5% of the server's in
//! `fieldsync-bench server` (docs/adr/0038). [`Tx`] runs the same statements from the
//! connection's statement cache; it behaves as rusqlite's does otherwise: dropped without
//! [`Tx::commit`], it rolls back.

use std::ops::Deref;

use rusqlite::Connection;

/// An open transaction on a connection; derefs to it, so statements run inside it. Rolled
/// back when dropped uncommitted.
pub struct Tx<'c> {
    conn: &'c Connection,
}

/// How a [`Tx`] takes its locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// A read, or a write that may wait to take the write lock at its first write.
    Deferred,
    /// The write lock at once: a writer never upgrades a read lock and fails with `BUSY`.
    Immediate,
}

impl<'c> Tx<'c> {
    /// Begins a transaction on `conn`.
    pub fn begin(conn: &'c Connection, begin: Begin) -> rusqlite::Result<Tx<'c>> {
        let sql = match begin {
            Begin::Deferred => "BEGIN DEFERRED",
            Begin::Immediate => "BEGIN IMMEDIATE",
        };
        conn.prepare_cached(sql)?.execute([])?;
        Ok(Tx { conn })
    }

    /// Commits. On an error the transaction is rolled back (as rusqlite's `commit` does).
    pub fn commit(self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }

    /// Ends a transaction that only read, releasing its snapshot.
    pub fn finish(self) -> rusqlite::Result<()> {
        self.end_if_open()
    }

    fn end_if_open(&self) -> rusqlite::Result<()> {
        // SQLite ends a transaction itself on some errors (a full disk, an interrupt).
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.prepare_cached("ROLLBACK")?.execute([])?;
        Ok(())
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        // Nothing to report to: the next BEGIN would fail loudly if this had not ended it.
        let _ = self.end_if_open();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)").expect("schema");
        conn
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0)).expect("count")
    }

    #[test]
    fn a_committed_write_stays_and_a_dropped_one_does_not() {
        let conn = table();
        let tx = Tx::begin(&conn, Begin::Immediate).expect("begin");
        tx.execute("INSERT INTO t VALUES (1)", []).expect("insert");
        tx.commit().expect("commit");
        {
            let tx = Tx::begin(&conn, Begin::Immediate).expect("begin");
            tx.execute("INSERT INTO t VALUES (2)", []).expect("insert");
        }
        assert_eq!(count(&conn), 1);
        assert!(conn.is_autocommit(), "the dropped transaction ended");
        let tx = Tx::begin(&conn, Begin::Deferred).expect("begin");
        tx.execute("INSERT INTO t VALUES (3)", []).expect("insert");
        tx.finish().expect("finish");
        assert_eq!(count(&conn), 1, "finish does not commit");
    }

    #[test]
    fn a_failed_commit_leaves_no_transaction_open() {
        let conn = table();
        conn.execute_batch("CREATE TABLE c (k INTEGER PRIMARY KEY, p INTEGER REFERENCES t(k) DEFERRABLE INITIALLY DEFERRED); PRAGMA foreign_keys = ON")
            .expect("schema");
        let tx = Tx::begin(&conn, Begin::Immediate).expect("begin");
        tx.execute("INSERT INTO c VALUES (1, 99)", []).expect("insert");
        tx.commit().expect_err("the deferred foreign key fails the commit");
        assert!(conn.is_autocommit(), "rolled back after the failed commit");
        assert_eq!(conn.query_row("SELECT count(*) FROM c", [], |row| row.get::<_, i64>(0)).expect("count"), 0);
        Tx::begin(&conn, Begin::Immediate).expect("a new transaction begins").commit().expect("commit");
    }
}
