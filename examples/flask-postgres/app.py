# devkube example: a Flask app whose visit counter lives in PostgreSQL, so it survives restarts of both.
# It reads the connection string from DATABASE_URL (docker-compose.yml sets it; under devkube the generated
# credentials of the `db` backing service do). In the container gunicorn serves it; `python app.py` runs it locally.
import os
import time

import psycopg2
from flask import Flask, request

app = Flask(__name__)
DATABASE_URL = os.environ["DATABASE_URL"]


def connect():
    return psycopg2.connect(DATABASE_URL, connect_timeout=5)


def create_table(attempts=30):
    """Creates the counter's table, waiting for the database for up to a minute (it may still be starting)."""
    for attempt in range(attempts):
        try:
            with connect() as conn, conn.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS visits (id integer PRIMARY KEY, count integer NOT NULL)")
            return
        except psycopg2.OperationalError as error:
            if attempt == attempts - 1:
                raise
            print(f"database not reachable yet: {str(error).strip()}; retrying", flush=True)
            time.sleep(2)


@app.route("/health")
def health():
    # What readiness checks fetch: it needs the database but does not count as a visit.
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    return "ok\n"


@app.route("/")
def hello():
    # HEAD asks whether the page answers (devkube's port-forward check does): it is not a visit.
    if request.method == "HEAD":
        return ""
    # A connection per request: when the database pod is replaced, the next request simply connects again.
    with connect() as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO visits (id, count) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET count = visits.count + 1 RETURNING count"
        )
        (count,) = cur.fetchone()
    return f"Hello World! Visits: {count}\n"


create_table()

if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", 5000)))
