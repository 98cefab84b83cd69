# t_usage.sh - cache reads, cache writes and reasoning/thinking tokens for every provider and
# operation, stream and not: the event's subsets and cost must follow each wire format.
ak_check_py usage
ak_finish
