"""outage-relief: batch ETL and payouts for outage-compensation programs (first: Kakao's 1015 relief plan)."""

__version__ = "0.1.0"
