-- Close the program: no day computes or pays after this.
insert into program_close (program, closed_on, closed_by, closed_at)
values (:program, :closed_on, :closed_by, :closed_at)
