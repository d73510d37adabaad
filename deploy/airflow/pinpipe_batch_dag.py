"""Airflow 2 DAG ``pinpipe_batch``: runs ``pinpipe batch`` daily at midnight UTC.

The original pipeline's DAG ran the Databricks batch notebook with these settings; this one runs the
PinPipe batch job on the worker instead. ``pinpipe schedule`` is the built-in alternative (same cron,
retries and no catch-up), for a machine without Airflow.

Where pinpipe is and which settings it uses come from Airflow Variables, which Airflow also reads from
environment variables named ``AIRFLOW_VAR_<NAME>``:

* ``pinpipe_bin``    the pinpipe executable (default ``pinpipe``, found on PATH);
* ``pinpipe_config`` its settings file, passed as ``--config`` (default ``/etc/pinpipe/pinpipe.json``).

Requires Airflow 2.4 or later (``schedule``, ``append_env``).
"""

from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

default_args = {
    "owner": "pinpipe",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
}

with DAG(
    dag_id="pinpipe_batch",
    description="PinPipe batch job: the bucket's posts, geolocations and users to cleaned tables and insights.",
    schedule="0 0 * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["pinpipe"],
) as dag:
    BashOperator(
        task_id="pinpipe_batch",
        # Values reach the command through the environment, so paths with spaces or quotes stay one argument.
        # The names must not start with PINPIPE_: pinpipe reads those as its own settings.
        bash_command='"$DAG_PINPIPE_BIN" batch --config "$DAG_PINPIPE_CONFIG"',
        env={
            "DAG_PINPIPE_BIN": "{{ var.value.get('pinpipe_bin', 'pinpipe') }}",
            "DAG_PINPIPE_CONFIG": "{{ var.value.get('pinpipe_config', '/etc/pinpipe/pinpipe.json') }}",
        },
        # Keep the worker's environment (PATH, and PINPIPE_* settings such as PINPIPE_DataDir).
        append_env=True,
    )
