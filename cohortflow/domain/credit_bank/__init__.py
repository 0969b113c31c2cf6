"""The credit bank (学分银行): a person's training record across programmes and years, and the rules it is held to.

Pure: people, credits from every source, requirements as versioned data, and a person's standing against each
rule at any date. The store records; this decides.
"""
