#!/usr/bin/env python3
"""Trains on gold.customer_training_set's export: the next 90 days' spend and whether the customer orders again.

    .venv/bin/python examples/train_next_spend.py [EXPORTS_DIR]      (default: exports)

The export is a folder of one file per bucket of customer_id (`part-bucket-017.parquet` ...), which
pandas.read_parquet reads as one frame. The features are the columns whose role is `feature` in
the files' `medallion.columns` key-value metadata (never `label`, `lifetime`, `key` or
`attribute`), so a column added to the model's .yml with its role is picked up without changing
this script. Rows are (customer, cutoff_date): the
validation set is the latest cutoff, the training set every earlier one (a time split: the model
never sees the period it is judged on). Two gradient-boosted trees (scikit-learn, NaN-aware):

  next_spend     regression (squared error); its RMSE against predicting the training rows' mean,
                 and its MAE against the mean's and the median's
  ordered_again  classification; its ROC AUC (0.5 = no better than chance) and the base rate

Exit 1, with the reason on stderr, when the folder, its metadata, the labels or a second cutoff are
missing.
"""
import glob
import json
import os
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, roc_auc_score, root_mean_squared_error
from threadpoolctl import threadpool_limits

TABLE = "customer_training_set"
CUTOFF = "cutoff_date"
LABELS = ("next_spend", "ordered_again")


def fail(message):
    print(f"train_next_spend: {message}", file=sys.stderr)
    sys.exit(1)


def column_roles(path):
    """name -> role of each column of the folder's files, from the `medallion.columns` (the model's
    .yml) of its first file: every file of an export carries the same."""
    files = sorted(glob.glob(os.path.join(path, "*.parquet")))
    if not files:
        fail(f"{path} holds no Parquet file")
    schema = pq.read_schema(files[0])
    raw = (schema.metadata or {}).get(b"medallion.columns")
    if raw is None:
        fail(f"{path} has no medallion.columns metadata (not written by medallion export?)")
    roles = {c["name"]: c.get("role") for c in json.loads(raw)}
    return {name: roles.get(name) for name in schema.names}


def feature_matrix(frame, features):
    """The features as the trees take them: numbers as float64 (NULL -> NaN), booleans as 0/1,
    dates as days before the cutoff (a date itself means nothing across cutoffs), text as categories."""
    out = pd.DataFrame(index=frame.index)
    for name in features:
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[name] = (frame[CUTOFF] - col).dt.days.astype("float64")
        elif pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            out[name] = col.astype("float64")
        else:
            out[name] = col.astype("category")
    return out


def main():
    exports = sys.argv[1] if len(sys.argv) > 1 else "exports"
    path = os.path.join(exports, TABLE)
    if not os.path.isdir(path):
        fail(f"{path} does not exist (medallion build or medallion export writes it)")
    roles = column_roles(path)
    missing = [c for c in (CUTOFF, *LABELS) if c not in roles]
    if missing:
        fail(f"{path} lacks the column(s) {', '.join(missing)}")
    features = [name for name, role in roles.items() if role == "feature"]
    if not features:
        fail(f"{path}: no column has the role feature in its medallion.columns metadata")

    data = pd.read_parquet(path, columns=[CUTOFF, *features, *LABELS])  # the folder: every bucket file
    cutoffs = sorted(data[CUTOFF].unique())
    if len(cutoffs) < 2:
        fail(f"{path}: {len(cutoffs)} cutoff(s); a time split needs at least two")
    latest = cutoffs[-1]
    train, valid = data[data[CUTOFF] < latest], data[data[CUTOFF] == latest]
    X_train, X_valid = feature_matrix(train, features), feature_matrix(valid, features)
    print(f"{TABLE}: {len(data):,} rows, {len(features)} features (role feature), "
          f"{len(cutoffs)} cutoffs {pd.Timestamp(cutoffs[0]).date()}..{pd.Timestamp(latest).date()}")
    print(f"time split: train {len(train):,} rows ({len(cutoffs) - 1} cutoffs before {pd.Timestamp(latest).date()}), "
          f"validate {len(valid):,} rows (cutoff {pd.Timestamp(latest).date()})")

    spend_train, spend_valid = train["next_spend"].astype("float64"), valid["next_spend"].astype("float64")
    regressor = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=0).fit(X_train, spend_train)
    predicted = regressor.predict(X_valid)
    mean, median = spend_train.mean(), spend_train.median()
    rmse, rmse_mean = root_mean_squared_error(spend_valid, predicted), root_mean_squared_error(spend_valid, np.full(len(valid), mean))
    mae, mae_mean = mean_absolute_error(spend_valid, predicted), mean_absolute_error(spend_valid, np.full(len(valid), mean))
    mae_median = mean_absolute_error(spend_valid, np.full(len(valid), median))
    # The trees minimise squared error (they predict the expected spend): RMSE is their metric. Most
    # customers spend nothing in a window, so predicting the median (0) has a lower MAE than either.
    print(f"next_spend: RMSE {rmse:.2f}, predict the training mean ({mean:.2f}) {rmse_mean:.2f}: {100 * (1 - rmse / rmse_mean):.1f}% lower; "
          f"MAE {mae:.2f}, the mean {mae_mean:.2f}, the training median ({median:.2f}) {mae_median:.2f}")

    again_train, again_valid = train["ordered_again"].astype(int), valid["ordered_again"].astype(int)
    if again_train.nunique() < 2 or again_valid.nunique() < 2:
        print(f"ordered_again: ROC AUC n/a (one class only; base rate {again_valid.mean():.3f})")
        return
    classifier = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0).fit(X_train, again_train)
    auc = roc_auc_score(again_valid, classifier.predict_proba(X_valid)[:, 1])
    print(f"ordered_again: ROC AUC {auc:.3f} (base rate {again_valid.mean():.3f}; 0.5 = chance)")


if __name__ == "__main__":
    # One OpenMP thread: the trees fit in about a second at scale 1 either way, and on a machine whose
    # cores are busy (CI, the database beside it) OpenMP's spinning threads made it 5-10 times slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        main()
