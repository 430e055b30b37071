"""The dask.distributed path: the same tasks on a LocalCluster give the same table."""

import numpy as np
import pandas as pd
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits

from labelwise.data.datasets import Dataset
from labelwise.studies.simulation import simulate


def small_digits():
    X, y = load_digits(return_X_y=True)
    return Dataset(name="digits", vectors=(X[:300] + 0.01).astype(np.float32),
                   labels=y[:300].astype(str).astype(object),
                   items=pd.DataFrame({"id": np.arange(300)}), kind="table")


def test_scheduler_address_runs_the_tasks_on_the_cluster():
    ds = small_digits()
    serial = simulate(ds, ["U*I*D"], folds=2, budget=8, seed=2)
    calls = []
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        distributed = simulate(ds, ["U*I*D"], folds=2, budget=8, seed=2,
                               scheduler=cluster.scheduler_address,
                               progress=lambda done, total: calls.append((done, total)))
        with Client(cluster) as client:
            # A client object works too, and the cluster really ran tasks.
            again = simulate(ds, ["U*I*D"], folds=2, budget=8, seed=2, scheduler=client)
            ran = client.run_on_scheduler(lambda dask_scheduler: [
                str(entry[0]) for entry in dask_scheduler.transition_log])
    assert len({key for key in ran if key.startswith("run_task-")}) == 2 * 4  # 2 runs x 4 tasks
    pd.testing.assert_frame_equal(serial.drop(columns="seconds"),
                                  distributed.drop(columns="seconds"))
    pd.testing.assert_frame_equal(serial.drop(columns="seconds"), again.drop(columns="seconds"))
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)


def test_graph_model_on_the_cluster_gives_the_serial_table():
    ds = small_digits()
    serial = simulate(ds, ["U*I*D"], folds=2, budget=25, seed=3, model="auto")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        distributed = simulate(ds, ["U*I*D"], folds=2, budget=25, seed=3, model="auto",
                               scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(serial.drop(columns="seconds"),
                                  distributed.drop(columns="seconds"))
    assert set(serial["model"]) <= {"knn", "graph"}
