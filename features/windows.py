"""Window lengths shared by every signal family, in weeks (one place to change them)."""

RECENT_WEEKS = 4  # "recent level": what the person did lately
BASELINE_WEEKS = 26  # the person's own normal: half a year ...
BASELINE_GAP_WEEKS = 4  # ... that skips the recent weeks, so a decline does not hide in its own normal
BASELINE_MIN_WEEKS = 8  # fewer observed weeks than this and there is no normal yet (null, not invented)
# The long normal behind the drift features: two years, so that a decline creeping over months is
# measured against the time before it, not absorbed into a half-year normal.
LONG_NORMAL_WEEKS = 104
DRIFT_WEEKS = (4, 8, 13, 26)  # recent spans compared with the long normal, from a month to half a year
TREND_WEEKS = 8
TREND_MIN_WEEKS = 4
SURVEY_RECENT_WEEKS = 12
SURVEY_NORMAL_WEEKS = 52
ABSENCE_WEEKS = 26
LEAVE_WEEK_MIN_DAYS = 2.0  # a week with this many planned-leave days says nothing about motivation

# The longest look-back any feature needs; scoring one week reads no more history than this.
LOOKBACK_WEEKS = (
    max(
        BASELINE_WEEKS + BASELINE_GAP_WEEKS,
        LONG_NORMAL_WEEKS + BASELINE_GAP_WEEKS,
        SURVEY_RECENT_WEEKS + SURVEY_NORMAL_WEEKS,
        ABSENCE_WEEKS,
    )
    + 1
)
