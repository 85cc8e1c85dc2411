-- The markets warehouse of SPEC §5: one table per ETL job, keyed so that a
-- re-run upserts, and dw.markets listing every series the jobs load.
-- Values are plain numeric (no scale cut: Quandl's precision is kept exactly);
-- dates are calendar dates, which no TimeZone setting can shift.

CREATE TABLE dw.markets (
    dataset     text NOT NULL,
    ticker      text NOT NULL,
    description text NOT NULL,
    PRIMARY KEY (dataset, ticker)
);

CREATE TABLE dw.currency (
    dataset  text    NOT NULL,
    ticker   text    NOT NULL,
    currency text    NOT NULL,
    date     date    NOT NULL,
    rate     numeric,
    high_est numeric,
    low_est  numeric,
    PRIMARY KEY (dataset, ticker, date)
);

CREATE TABLE dw.economics (
    dataset text    NOT NULL,
    ticker  text    NOT NULL,
    date    date    NOT NULL,
    value   numeric,
    PRIMARY KEY (dataset, ticker, date)
);

CREATE TABLE dw.equities (
    dataset     text    NOT NULL,
    ticker      text    NOT NULL,
    date        date    NOT NULL,
    open        numeric,
    high        numeric,
    low         numeric,
    close       numeric,
    volume      numeric,
    ex_dividend numeric,
    split_ratio numeric,
    adj_open    numeric,
    adj_high    numeric,
    adj_low     numeric,
    adj_close   numeric,
    adj_volume  numeric,
    PRIMARY KEY (dataset, ticker, date)
);

-- One row per non-date column of the series: key is the mapped column name
-- (1_mo, 30_yr, lt_composite_>_10_yrs, ...).
CREATE TABLE dw.interest_rates (
    dataset text    NOT NULL,
    ticker  text    NOT NULL,
    date    date    NOT NULL,
    key     text    NOT NULL,
    value   numeric,
    PRIMARY KEY (dataset, ticker, date, key)
);

-- Z94108_ZHVIAH: area_category Z, area 94108, indicator_code ZHVIAH.
CREATE TABLE dw.real_estate (
    dataset        text    NOT NULL,
    ticker         text    NOT NULL,
    date           date    NOT NULL,
    value          numeric,
    area_category  text    NOT NULL,
    indicator_code text    NOT NULL,
    area           text    NOT NULL,
    PRIMARY KEY (dataset, ticker, date)
);
