"""What students get and the lecturer keeps: the site (site, index), handouts and notes
pages, notebooks."""
