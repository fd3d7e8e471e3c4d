-- Whether (and when) a program was closed.
select program, closed_on, closed_by, closed_at from program_close where program = :program
